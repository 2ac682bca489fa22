//! The pusher: local stock changes captured in the outbox go to Ecwid as quantity deltas,
//! exactly once.
//!
//! A pass coalesces the open changes per product or variation (a change and its undo cancel
//! out with no request), puts them into keyed batches (contract 17.4) and stores each
//! batch's key with its changes before sending it. A lost answer (timeout, dropped
//! connection, 5xx) leaves the changes `sending` with their key, and the next attempt sends
//! the same key again, which Ecwid runs at most once, for as long as Ecwid remembers the key
//! (see [`expired`] for what happens after). Each batch ends with reads of its products, so
//! the mirror takes Ecwid's resulting quantities in the transaction that marks the changes
//! applied.

mod answers;
pub mod creates;
mod deletes;
pub mod expired;
mod field_pass;
pub mod fields;
mod keyed;
pub mod metrics;
mod outcome;
pub mod plan;
mod report;
pub mod worker;

use std::time::Duration;

use crate::config::ConflictsConfig;
use crate::ecwid::Client;
use crate::ecwid::batch::BatchOptions;
use crate::ecwid::model::BatchStatus;
use crate::errors::error_chain;
use crate::mirror::apply::{self, Rows};
use crate::mirror::fields as mirror_fields;
use crate::mirror::new_products::{self, Created};
use crate::mirror::outbox::{self, Outcome, Settled};
use crate::mirror::outbox_review::{self, Oldest, StateCounts};
use crate::mirror::subject::Subject;
use crate::mirror::{MirrorWriter, unix_now};
use crate::sync::{Kind, PullError, fetch};
pub use answers::ENTITIES_PER_BATCH;
pub use metrics::PushMetrics;
use plan::PlannedBatch;

/// How long Ecwid remembers a batch's `deduplicationKey` (contract 17.4).
pub const KEY_LIFETIME: Duration = Duration::from_secs(3600);

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Batches sent (new or again).
    pub batches: usize,
    /// Entities whose changes Ecwid applied.
    pub applied: usize,
    /// Entities whose changes Ecwid refused for good.
    pub failed: usize,
    /// Entities Ecwid did not run; their changes go in a later batch.
    pub not_run: usize,
    /// Entities whose changes may or may not have run, held for the operator.
    pub uncertain: usize,
    /// Outbox rows whose entity's changes summed to zero.
    pub cancelled: usize,
    /// Entities whose field values Ecwid took.
    pub updated: usize,
    /// Conflicts found (held for the operator, or settled by their policy).
    pub conflicts: usize,
    /// Products created from `new_products`.
    pub created: usize,
    /// Requests in `new_products` Ecwid refused (a SKU it already has, say).
    pub not_created: usize,
    /// Products deleted in Ecwid and then from the mirror (`[push] deletes`).
    pub deleted: usize,
}

impl PushSummary {
    fn count(&mut self, settled: &[Settled]) {
        for s in settled {
            match &s.outcome {
                Outcome::Applied => self.applied += 1,
                Outcome::Failed(_) => self.failed += 1,
                Outcome::NotRun(_) => self.not_run += 1,
                Outcome::Uncertain(_) => self.uncertain += 1,
            }
        }
    }
}

pub struct Pusher {
    client: Client,
    writer: MirrorWriter,
    options: BatchOptions,
    key_lifetime: Duration,
    policies: ConflictsConfig,
    metrics: PushMetrics,
    /// `[push] deletes`.
    deletes: bool,
    /// The `deletes` value last written into the mirror's `push_switches` (0: none yet).
    switch_written: std::sync::atomic::AtomicU8,
}

impl Pusher {
    pub fn new(client: Client, writer: MirrorWriter) -> Pusher {
        Pusher {
            client,
            writer,
            options: BatchOptions::default(),
            key_lifetime: KEY_LIFETIME,
            policies: ConflictsConfig::default(),
            metrics: PushMetrics::default(),
            deletes: false,
            switch_written: std::sync::atomic::AtomicU8::new(0),
        }
    }

    /// How conflicts of field changes are settled (`[conflicts]`).
    pub fn with_policies(mut self, policies: ConflictsConfig) -> Pusher {
        self.policies = policies;
        self
    }

    /// Ecwid's memory of a batch key, when it is not [`KEY_LIFETIME`] (an emulated store).
    pub fn with_key_lifetime(mut self, lifetime: Duration) -> Pusher {
        self.key_lifetime = lifetime;
        self
    }

    /// Whether a tool's DELETE FROM products deletes the product in Ecwid (`[push] deletes`).
    pub fn with_deletes(mut self, deletes: bool) -> Pusher {
        self.deletes = deletes;
        self
    }

    /// Writes `[push] deletes` into the mirror when it differs from what was written last,
    /// so that the trigger on `products` refuses or takes a tool's DELETE accordingly.
    async fn publish_switches(&self) -> Result<(), PullError> {
        use std::sync::atomic::Ordering;
        let want = if self.deletes { 2 } else { 1 };
        if self.switch_written.load(Ordering::Relaxed) == want {
            return Ok(());
        }
        let deletes = self.deletes;
        self.writer
            .call(move |conn| {
                conn.execute("UPDATE push_switches SET deletes = ?1", [deletes])?;
                Ok(())
            })
            .await?;
        self.switch_written.store(want, Ordering::Relaxed);
        Ok(())
    }

    /// A pusher that counts what it does into `metrics` (the daemon's `/metrics`).
    pub fn with_metrics(mut self, metrics: PushMetrics) -> Pusher {
        self.metrics = metrics;
        self
    }

    /// Whether the outbox holds changes on their way.
    pub async fn has_work(&self) -> Result<bool, PullError> {
        self.publish_switches().await?;
        Ok(self
            .writer
            .call(|conn| Ok(outbox::has_open(conn)? || new_products::has_open(conn)?))
            .await?)
    }

    /// The outbox's counts by state, and what in it has waited longest.
    pub async fn outbox_counts(&self) -> Result<(StateCounts, Oldest), PullError> {
        Ok(self
            .writer
            .call(|conn| Ok((StateCounts::read(conn)?, Oldest::read(conn)?)))
            .await?)
    }

    /// Removes changes applied more than `days` ago.
    pub async fn prune(&self, days: u32, now: i64) -> Result<usize, PullError> {
        Ok(self
            .writer
            .call(move |conn| Ok(outbox_review::prune(conn, days, now)?))
            .await?)
    }

    /// One pass over the outbox. Stops at the first batch whose outcome stays unknown (its
    /// changes keep their key for the next pass).
    pub async fn push_once(&self) -> Result<PushSummary, PullError> {
        let lifetime = self.key_lifetime.as_secs().max(1) as i64;
        self.publish_switches().await?;
        let deleted = deletes::push_deletes(
            &self.client,
            &self.writer,
            &self.options,
            lifetime,
            self.deletes,
        )
        .await?;
        self.read_field_entities().await?;
        let policies = self.policies;
        let (plan, decided) = self
            .writer
            .call(move |conn| {
                let tx = conn.transaction()?;
                let now = unix_now();
                let open = outbox::open_changes(&tx)?;
                let field_rows = mirror_fields::open_rows(&tx)?;
                let decided = field_pass::decide_pending(&tx, &field_rows, &policies, now)?;
                let sent: Vec<_> = field_rows
                    .into_iter()
                    .filter(|r| r.batch_key.is_some())
                    .collect();
                let creates = new_products::open(&tx)?;
                let open = plan::Open {
                    stock: &open,
                    fields_sent: &sent,
                    updates: decided.updates.clone(),
                    creates,
                };
                let uid = outbox::mirror_uid(&tx)?;
                let mut plan = plan::plan(open, &uid, ENTITIES_PER_BATCH, now, lifetime);
                field_pass::name_orders(&tx, &mut plan.batches)?;
                outbox::cancel_out(&tx, &plan.cancelled, now)?;
                for batch in plan.batches.iter().filter(|b| b.sent.is_none()) {
                    outbox::mark_sending(&tx, &batch.ids(), &batch.key, now)?;
                    new_products::mark_sending(&tx, &batch.create_ids(), &batch.key, now)?;
                }
                tx.commit()?;
                Ok((plan, (decided.conflicts, decided.settled)))
            })
            .await?;
        let (conflicts, _) = &decided;
        for c in conflicts {
            tracing::warn!(
                entity = %c.subject,
                field = c.field.column,
                local = fields::shown(&c.local),
                remote = fields::shown(&c.remote),
                base = fields::shown(&c.base),
                policy = c.policy,
                outcome = match c.resolution {
                    Some("local") => "the local value is sent",
                    Some(_) => "Ecwid's value is kept",
                    None => "held: ecwid-sync conflicts resolve ID --take local|remote",
                },
                "a field was changed both in the mirror and in Ecwid"
            );
        }
        let mut summary = PushSummary {
            cancelled: plan.cancelled.len(),
            conflicts: conflicts.len(),
            deleted,
            ..PushSummary::default()
        };
        for batch in &plan.expired {
            self.settle_expired(batch, &mut summary).await?;
        }
        for batch in &plan.batches {
            summary.batches += 1;
            self.send(batch, &mut summary).await?;
        }
        self.metrics.observe(&summary);
        Ok(summary)
    }

    /// Reads again the products, orders and categories with field changes to decide, and
    /// writes them into the mirror, so that decisions compare with Ecwid's values as they
    /// are now. A read that fails ends the pass: deciding on an old copy could overwrite a
    /// change.
    async fn read_field_entities(&self) -> Result<(), PullError> {
        let to_read = self
            .writer
            .call(|conn| {
                Ok(field_pass::entities_to_read(&mirror_fields::open_rows(
                    conn,
                )?))
            })
            .await?;
        let mut read = Vec::new();
        for (kind, keys) in to_read.iter().filter(|(_, keys)| !keys.is_empty()) {
            read.push(fetch::by_keys(&self.client, *kind, keys).await?.rows);
        }
        if read.is_empty() {
            return Ok(());
        }
        self.writer
            .call(move |conn| {
                let tx = conn.transaction()?;
                let now = unix_now();
                for rows in &read {
                    apply::apply_rows(&tx, rows, now)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    /// Sends a batch (or, when Ecwid answered its create before, only polls it) and settles
    /// what Ecwid did.
    async fn send(&self, batch: &PlannedBatch, summary: &mut PushSummary) -> Result<(), PullError> {
        let ticket = batch.sent.as_ref().and_then(|s| s.ticket.clone());
        let requests = answers::requests(batch);
        match keyed::send(
            &self.client,
            &self.writer,
            &self.options,
            &LOCAL_CHANGES,
            &batch.key,
            ticket,
            &requests,
        )
        .await?
        {
            keyed::Sent::Answered(status) => self.settle_answered(batch, &status, summary).await,
            keyed::Sent::Refused(reason) => {
                let failed = Outcome::Failed(reason.clone());
                let outcome = BatchOutcome {
                    settled: all(batch, failed.clone()),
                    updates: vec![failed; batch.updates.len()],
                    created: creates::refused(&batch.creates, &reason),
                    products: Rows::empty(Kind::Products),
                    others: Vec::new(),
                };
                self.settle(batch, outcome, summary).await
            }
            keyed::Sent::Unanswered(err) => {
                self.metrics.unanswered.inc();
                Err(err.into())
            }
        }
    }

    async fn settle_answered(
        &self,
        batch: &PlannedBatch,
        status: &BatchStatus,
        summary: &mut PushSummary,
    ) -> Result<(), PullError> {
        let settled = answers::outcomes(batch, status);
        let updates = answers::update_outcomes(batch, status);
        let created = creates::outcomes(&batch.creates, status);
        let (mut products, mut others) = answers::read_back(batch, status);
        let missing = answers::not_read_back(&settled, &products);
        if !missing.is_empty() {
            // Without Ecwid's resulting quantity the mirror would show the old one until the
            // next pull; one more read settles it now.
            match fetch::by_keys(&self.client, Kind::Products, &missing).await {
                Ok(found) => products.append(found.rows),
                Err(err) => tracing::warn!(
                    error = %error_chain(&err),
                    products = missing.len(),
                    "cannot read back products after a stock batch; the next pull brings their quantities"
                ),
            }
        }
        others.extend(creates::read_created(&self.client, &created).await);
        let outcome = BatchOutcome {
            settled,
            updates,
            created,
            products,
            others,
        };
        self.settle(batch, outcome, summary).await
    }

    /// A batch whose key Ecwid may have forgotten: its ticket, if it has one, or the products
    /// as they are now decide each change and create (see [`expired`]).
    async fn settle_expired(
        &self,
        batch: &PlannedBatch,
        summary: &mut PushSummary,
    ) -> Result<(), PullError> {
        if let Some(ticket) = batch.sent.as_ref().and_then(|s| s.ticket.as_deref()) {
            match self.client.batch_status(ticket).await {
                Ok(status) if status.is_completed() => {
                    return self.settle_answered(batch, &status, summary).await;
                }
                // Still running an hour on: it will finish; the next pass asks again.
                Ok(_) => return Ok(()),
                Err(err) if err.status() == Some(404) => {}
                Err(err) => return Err(err.into()),
            }
        }
        let mut products: Vec<i64> = batch.changes.iter().map(|c| c.product_id).collect();
        products.sort_unstable();
        products.dedup();
        let found = if products.is_empty() {
            Rows::empty(Kind::Products)
        } else {
            fetch::by_keys(&self.client, Kind::Products, &products)
                .await?
                .rows
        };
        let created = creates::expired(&self.client, &batch.creates).await?;
        let settled: Vec<Settled> = batch
            .changes
            .iter()
            .map(|c| settled(c, expired::decide(c, expired::current_of(&found, c))))
            .collect();
        for s in &settled {
            if let Outcome::Uncertain(error) = &s.outcome {
                tracing::error!(
                    change = "stock",
                    entity = Subject::stock(s.product_id, s.variation_id).to_string(),
                    outbox_ids = ?s.ids,
                    error,
                    "a local change is uncertain: ecwid-sync outbox resolve ID --applied|--resend"
                );
            }
        }
        let batch_fields = batch.clone();
        self.writer
            .call(move |conn| {
                let tx = conn.transaction()?;
                field_pass::expire(&tx, &batch_fields, unix_now())?;
                tx.commit()?;
                Ok(())
            })
            .await?;
        let unsent = PlannedBatch {
            updates: Vec::new(),
            ..batch.clone()
        };
        let others = Vec::from_iter(creates::read_created(&self.client, &created).await);
        let outcome = BatchOutcome {
            settled,
            updates: Vec::new(),
            created,
            products: found,
            others,
        };
        self.settle(&unsent, outcome, summary).await
    }

    /// Writes what Ecwid did with a batch into the mirror, in one transaction.
    async fn settle(
        &self,
        batch: &PlannedBatch,
        outcome: BatchOutcome,
        summary: &mut PushSummary,
    ) -> Result<(), PullError> {
        summary.count(&outcome.settled);
        let applied = |o: &&Outcome| **o == Outcome::Applied;
        summary.updated += outcome.updates.iter().filter(applied).count();
        for (_, c) in &outcome.created {
            match c {
                Created::As(_) => summary.created += 1,
                Created::Failed(_) => summary.not_created += 1,
                Created::NotRun => {}
            }
        }
        report::settled(batch, &outcome.settled, &outcome.updates);
        let changes = outcome.settled.len() + outcome.updates.len() + outcome.created.len();
        let fields_batch = batch.clone();
        self.writer
            .call(move |conn| {
                let tx = conn.transaction()?;
                let now = unix_now();
                field_pass::settle(&tx, &fields_batch, &outcome.updates, now)?;
                settle_stock(&tx, &outcome.settled, &outcome.products, now)?;
                creates::settle(&tx, &outcome.created, now)?;
                for rows in &outcome.others {
                    apply::apply_rows(&tx, rows, now)?;
                }
                tx.commit()?;
                Ok(())
            })
            .await?;
        tracing::info!(
            key = batch.key,
            changes,
            again = batch.sent.is_some(),
            "batch of local changes settled"
        );
        Ok(())
    }
}

/// What Ecwid did with a batch, entity by entity, with what was read back.
struct BatchOutcome {
    /// Stock changes, in the order of the batch's `changes`.
    settled: Vec<Settled>,
    /// Field updates, in the order of its `updates`.
    updates: Vec<Outcome>,
    /// Creates, by `new_products` id.
    created: Vec<(i64, Created)>,
    /// The products of its stock changes as Ecwid has them now.
    products: Rows,
    /// Everything else read back: updated entities, created products.
    others: Vec<Rows>,
}

/// The batches of local changes and new products keep their ticket in `push_batches` and in
/// `new_products`, their error in `outbox` and in `new_products`.
const LOCAL_CHANGES: keyed::Ledger = keyed::Ledger {
    store_ticket: |conn, key, ticket| {
        outbox::store_ticket(conn, key, ticket)?;
        new_products::store_ticket(conn, key, ticket)
    },
    forget_ticket: |conn, key| {
        outbox::forget_ticket(conn, key)?;
        new_products::forget_ticket(conn, key)
    },
    note_error: |conn, key, error| {
        outbox::note_batch_error(conn, key, error)?;
        new_products::note_error(conn, key, error)
    },
    carries: "local changes",
};

/// Settles a batch's stock changes in the caller's transaction: their outcomes, the products
/// Ecwid returned (never older than the mirror's copy), then each entity's quantity again as
/// Ecwid's latest plus what is still open.
fn settle_stock(
    tx: &rusqlite::Transaction,
    settled: &[Settled],
    read_back: &Rows,
    now: i64,
) -> Result<(), crate::mirror::MirrorError> {
    outbox::record_outcomes(tx, settled, now)?;
    apply::apply_rows(tx, read_back, now)?;
    outbox::rederive_settled(tx, settled)
}

fn settled(change: &plan::Change, outcome: Outcome) -> Settled {
    Settled {
        product_id: change.product_id,
        variation_id: change.variation_id,
        ids: change.ids.clone(),
        outcome,
    }
}

fn all(batch: &PlannedBatch, outcome: Outcome) -> Vec<Settled> {
    batch
        .changes
        .iter()
        .map(|c| settled(c, outcome.clone()))
        .collect()
}
